"""unet-fsic pipeline: config, convert, csim, cosim, wrap, sweep, report, and the hls4ml extension plugin."""
