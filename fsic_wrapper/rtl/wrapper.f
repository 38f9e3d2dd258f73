// unet-fsic FSIC wrapper: the hand-written helper RTL in compile order, paths relative to this file's folder.
// pipeline/hw/rtl.py copies these into each build (<build>/fsic/rtl/) and lists them in filelist.f before the
// generated USER_PRJ0.v; unet_fsic_regs.vh (generated from regmap.yaml) is `include'd by uf_regs.v.
uf_axil_slave.v
uf_counter.v
uf_gearbox.v
uf_in_framer.v
uf_regs.v
unet_fsic_core.v
