"""Registration of every extension with hls4ml -- the one module that talks to hls4ml's registries.

:func:`register_all` (public as :func:`pipeline.extensions.register_extensions`) registers, from the tables below:

* Keras v2 parser handlers (``hls4ml.converters.register_keras_v2_layer_handler``) and IR layers
  (``hls4ml.model.layers.register_layer``);
* config / function-call templates and C++ kernels (``register_template`` / ``register_source``) with every backend
  of :data:`BACKENDS`;
* layer-init passes in the ``init_layers`` flow those backends run (``Backend.register_pass(flow=...)``);
* late passes appended to another backend flow (``FLOW_PASSES``: the conv-block fusion, at the end of
  ``vivado:specific_types``, after every pass that shapes a conv and before the templates);
* global passes at a fixed position of hls4ml's ``convert`` flow (:func:`_insert_before`: the only place that touches
  hls4ml internals);
* the Keras layer classes hls4ml must be able to deserialize (``ArgmaxHead``).

Idempotent, with one guard (:func:`_register_once`) for every registry: a name this package already registered is
skipped, a name held by someone else's object is refused (hls4ml itself raises on any second registration). The
module flag makes repeated calls free; the per-name guard keeps a re-import of this package (which resets the flag
but not hls4ml's registries) safe.

To add a layer: write its module (parser, IR layer, templates, passes at module level, like hls4ml's own) and add its
pieces to the tables below.
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping

from hls4ml.backends import get_backend
from hls4ml.converters.keras_v2_to_hls import get_layer_handlers, register_keras_v2_layer_handler
from hls4ml.model.flow import get_available_flows, get_flow
from hls4ml.model.layers import layer_map, register_layer
from hls4ml.model.optimizer.optimizer import optimizer_map, register_pass

from . import argmax, conv2d_transpose, fused_conv_block, fxp_batchnorm, mult_binding

#: hls4ml backends the templates/kernels are registered with (Vitis reuses Vivado's layer-init flow).
BACKENDS = ("Vivado", "Vitis")

__all__ = ["register_all"]

#: Keras class name -> parser (hls4ml Keras v2 layer handler)
KERAS_HANDLERS: dict[str, Callable] = {
    **{cls: conv2d_transpose.parse_conv2d_transpose for cls in conv2d_transpose.KERAS_CLASSES},
    fxp_batchnorm.KERAS_CLASS: fxp_batchnorm.parse_fxp_batchnorm,
    argmax.KERAS_CLASS: argmax.parse_argmax,
}
#: IR layer name -> class (FxpBatchNorm uses hls4ml's own BatchNormalization)
IR_LAYERS: dict[str, type] = {
    conv2d_transpose.LAYER_NAME: conv2d_transpose.FsicConv2DTranspose,
    argmax.LAYER_NAME: argmax.FsicArgmax,
    fused_conv_block.LAYER_NAME: fused_conv_block.FsicFusedConvBlock,
}
#: template classes, registered with every backend of BACKENDS
TEMPLATES: tuple[type, ...] = (
    conv2d_transpose.Conv2DTransposeConfigTemplate,
    conv2d_transpose.Conv2DTransposeFunctionTemplate,
    argmax.ArgmaxConfigTemplate,
    argmax.ArgmaxFunctionTemplate,
    fused_conv_block.FusedConvBlockConfigTemplate,
    fused_conv_block.FusedConvBlockFunctionTemplate,
    # LAST: runs after every config / function template of a layer (a flow applies its passes in registration
    # order): rewrites the product of bound Conv2D / PointwiseConv2D and adds nnet_fsic_mult.h (mult_binding.py)
    mult_binding.BindMultipliers,
)
#: C++ kernels, copied into every project's ``firmware/nnet_utils/``
SOURCES = tuple(str(m.NNET_DIR / h) for m in (conv2d_transpose, argmax, fused_conv_block, mult_binding)
                for h in m.HEADERS)
#: (name, pass class, the hls4ml pass of the 'convert' flow it must run before, why)
CONVERT_PASSES: tuple[tuple[str, type, str, str], ...] = (
    (conv2d_transpose.PRECISION_PASS, conv2d_transpose.InferConv2DTransposePrecision, "infer_precision_types",
     "infer_precision_types gives an unknown layer's unspecified types the model default"),
    (fxp_batchnorm.FOLD_PASS, fxp_batchnorm.FoldBatchNorm, "fuse_consecutive_batch_normalization",
     "after the user's explicit types are attached, before hls4ml's own (float) BatchNorm fusions"),
)
#: (name, pass class) run in the backends' layer-init flow (Strategy / ReuseFactor / weight layout)
INIT_PASSES: tuple[tuple[str, type], ...] = (
    (conv2d_transpose.INIT_PASS, conv2d_transpose.InitConv2DTranspose),
)
#: (name, pass class, flow suffix): appended (public ``Backend.register_pass(flow=...)``) to the ``<backend>:<suffix>``
#: flow each backend's default 'ip' flow requires (Vitis requires Vivado's ``specific_types``)
FLOW_PASSES: tuple[tuple[str, type, str], ...] = (
    (fused_conv_block.FUSE_PASS, fused_conv_block.FuseConvBlocks, fused_conv_block.FLOW),
)
#: builders of Keras layer classes that must exist (registered as Keras serializables) before models are loaded
KERAS_LAYERS: tuple[Callable[[], type], ...] = (argmax.keras_layer_class,)

_lock = threading.Lock()
_registered = False


def register_all() -> None:
    """Register every extension with hls4ml (see the module docstring). Safe to call more than once."""
    global _registered
    with _lock:
        if _registered:
            return
        for build in KERAS_LAYERS:
            build()
        handlers = get_layer_handlers()
        for cls, parser in KERAS_HANDLERS.items():
            _register_once(handlers, cls, parser, register_keras_v2_layer_handler, cls, parser)
        for name, layer_cls in IR_LAYERS.items():
            _register_once(layer_map, name, layer_cls, register_layer, name, layer_cls)
        for name, pass_cls, before, _why in CONVERT_PASSES:
            _register_once(optimizer_map, name, pass_cls, register_pass, name, pass_cls)
            _insert_before(get_flow("convert"), name, before)
        for flow in _init_flows():
            backend = get_backend(flow.split(":")[0])
            for name, pass_cls in INIT_PASSES:
                key = f"{backend.name.lower()}:{name}"
                _register_once(optimizer_map, key, pass_cls, backend.register_pass, name, pass_cls, flow=flow)
        for name, pass_cls, suffix in FLOW_PASSES:
            for flow in _ip_flows(suffix):
                backend = get_backend(flow.split(":")[0])
                key = f"{backend.name.lower()}:{name}"
                _register_once(optimizer_map, key, pass_cls, backend.register_pass, name, pass_cls, flow=flow)
        for be_name in BACKENDS:
            backend = get_backend(be_name)
            for tmpl_cls in TEMPLATES:
                key = f"{backend.name.lower()}:{tmpl_cls().get_name()}"
                _register_once(optimizer_map, key, tmpl_cls, backend.register_template, tmpl_cls)
            for path in SOURCES:
                backend.register_source(path)  # a dict assignment: idempotent by itself
        _registered = True


def _register_once(registry: Mapping, key: str, ours, register: Callable, *args, **kwargs) -> None:
    """``register(*args, **kwargs)`` unless ``key`` is in the hls4ml ``registry`` already; refuse another definition.

    ``ours`` is the class / function being registered; the registry may hold it, an instance of it (optimizer passes
    and templates are stored instantiated), or something else. Definitions are compared by module and qualified name
    so that a re-imported copy of this package still counts as ours.
    """
    if key not in registry:
        register(*args, **kwargs)
        return
    if _origin(registry[key]) != _origin(ours):
        raise RuntimeError(f"hls4ml already has '{key}' registered as {registry[key]!r}; refusing to override it")


def _origin(obj) -> tuple[str, str]:
    """(module, qualified name) of a class / function, or of the class of an instance."""
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        obj = type(obj)
    return obj.__module__, obj.__qualname__


def _init_flows() -> list[str]:
    """The layer-init flows the backends of BACKENDS run, e.g. ``['vivado:init_layers']`` for Vivado and Vitis.

    A backend's template flow requires its init flow; Vitis has none of its own and requires ``vivado:init_layers``.
    """
    flows: list[str] = []
    for be_name in BACKENDS:
        for req in get_flow(f"{be_name.lower()}:apply_templates").requires:
            if req.endswith(":init_layers") and req in get_available_flows() and req not in flows:
                flows.append(req)
    return flows


def _ip_flows(suffix: str) -> list[str]:
    """The flows named ``<backend>:<suffix>`` that the default ('ip') flows of :data:`BACKENDS` require, e.g.
    ``['vivado:specific_types']`` for Vivado and Vitis."""
    flows: list[str] = []
    for be_name in BACKENDS:
        for req in get_flow(f"{be_name.lower()}:ip").requires:
            if req.endswith(f":{suffix}") and req not in flows:
                flows.append(req)
    return flows


def _insert_before(flow, name: str, before: str) -> None:
    """Put pass ``name`` into ``flow`` just before the pass ``before`` (once).

    This touches hls4ml internals (``Flow._optimizers``) on purpose, and only here. hls4ml 1.3.0's public ways to add
    a pass to a flow -- ``Backend.register_pass(name, cls, flow=...)`` and ``hls4ml.model.flow.update_flow(flow,
    add_optimizers=[...])`` -- both end in ``Flow._add_optimizer``, which *appends*; the module-level
    ``register_pass`` takes no flow at all. Position matters: ``optimize_model`` tries a flow's passes in list order
    (starting over from the first after every pass that changes the graph), so a pass appended to ``convert`` would
    run after ``infer_precision_types`` / the BatchNorm fusions it has to precede. (``Flow.optimizers`` returns the
    same list object; mutating it through ``_optimizers`` says plainly that this is not a public API.)
    """
    if name not in flow._optimizers:
        flow._optimizers.insert(flow._optimizers.index(before), name)
