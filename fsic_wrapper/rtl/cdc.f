// two-clock builds only (target.ip_clock: user_clock2): the IP's clock-domain crossing, in compile order
uf_cdc_sync.v
uf_async_fifo.v
uf_ip_cdc.v
