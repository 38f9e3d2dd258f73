"""Exceptions raised by the hls4ml extension plugin."""
from __future__ import annotations


class UnsupportedLayerError(ValueError):
    """A Keras layer uses an attribute this extension does not implement.

    The message is one line naming the layer, its class and the offending attribute, e.g.
    ``layer 'up4' (Conv2DTranspose): dilation_rate=(2, 2) is not supported (only 1)``.
    """

    def __init__(self, layer_name: str, class_name: str, attribute: str, value, supported: str):
        self.layer_name = layer_name
        self.class_name = class_name
        self.attribute = attribute
        self.value = value
        super().__init__(
            f"layer '{layer_name}' ({class_name}): {attribute}={value!r} is not supported (only {supported})"
        )
