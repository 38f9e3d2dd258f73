// unet-fsic FSIC wrapper: the hand-written helper RTL in compile order, paths relative to this file's folder.
// pipeline/hw/rtl.py copies these into each build (<build>/fsic/rtl/) and lists them in filelist.f before the
// generated USER_PRJ0.v. Every file is self-contained (no `include; the register map's localparams are generated
// into uf_regs.v), so the list needs no include directory -- as FSIC's own file lists have none.
uf_axil_slave.v
uf_counter.v
uf_crc32.v
uf_gearbox.v
uf_in_buf.v
uf_regs.v
unet_fsic_core.v
