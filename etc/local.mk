telsysconfdir = $(sysconfdir)/tel
dist_telsysconf_DATA = etc/teld.conf

# The unit names the installed paths, known only at make time.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = etc/teld.service
sysusersdir = $(prefix)/lib/sysusers.d
sysusers_DATA = etc/tel.conf
etc/teld.service: $(top_srcdir)/etc/teld.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && sed -e 's|@sbindir[@]|$(sbindir)|g' \
		-e 's|@sysconfdir[@]|$(sysconfdir)|g' $(top_srcdir)/etc/teld.service.in > $@.tmp && mv $@.tmp $@
etc/tel.conf: $(top_srcdir)/etc/tel.sysusers
	$(AM_V_GEN)$(MKDIR_P) etc && cp $(top_srcdir)/etc/tel.sysusers $@
CLEANFILES += etc/teld.service etc/tel.conf
EXTRA_DIST += etc/teld.service.in etc/tel.sysusers
