# Manual pages, written by hand in roff (man(7) macros).
dist_man_MANS += docs/teld.8 docs/teld.conf.5 docs/tel-plugin.7
EXTRA_DIST += docs/api.md
