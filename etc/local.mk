telsysconfdir = $(sysconfdir)/tel
dist_telsysconf_DATA = etc/teld.conf
EXTRA_DIST += etc/teld.service.in
