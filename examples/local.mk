EXTRA_DIST += examples/hello-plugin/hello.c examples/hello-plugin/Makefile \
	examples/hello-plugin/hello.conf examples/hello-plugin/README.md
EXTRA_DIST += examples/demo.sh

# `make demo`: start teld from the build tree with the embedded default config.
demo: all
	@$(SHELL) $(top_srcdir)/examples/demo.sh $(abs_top_builddir)
.PHONY: demo
clean-local: clean-demo
clean-demo:
	rm -rf $(top_builddir)/_demo
.PHONY: clean-demo
EXTRA_DIST += examples/grafana/tel-dashboard.json examples/grafana/README.md
