/* Load a kernel module, or other kernel-state syscalls. */
#include "esc.h"
#include <fcntl.h>
#include <linux/reboot.h>
#include <sys/syscall.h>

int main(void)
{
    int fd = open("/usr/lib/modules", O_RDONLY);
    MUST_FAIL(syscall(SYS_finit_module, fd < 0 ? 0 : fd, "", 0), "finit_module");
    MUST_FAIL(syscall(SYS_init_module, "x", 1, ""), "init_module");
    MUST_FAIL(syscall(SYS_delete_module, "ext4", 0), "delete_module");
    MUST_FAIL(syscall(SYS_kexec_load, 0, 0, 0, 0), "kexec_load");
    MUST_FAIL(syscall(SYS_bpf, 0, 0, 0), "bpf");
    MUST_FAIL(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, 0), "reboot");
    MUST_FAIL(syscall(SYS_keyctl, 0, 0, 0, 0), "keyctl");
    MUST_FAIL(syscall(SYS_io_uring_setup, 1, NULL), "io_uring_setup");
    MUST_FAIL(syscall(SYS_userfaultfd, 0), "userfaultfd");
    MUST_FAIL(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), "perf_event_open");
    MUST_FAIL(syscall(SYS_personality, 0x0040000), "personality(ADDR_NO_RANDOMIZE)");
    BLOCKED("no kernel-state syscall allowed");
}
