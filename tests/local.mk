include tests/plugins/local.mk
include tests/unit/local.mk
include tests/integration/local.mk
include tests/fuzz/local.mk
