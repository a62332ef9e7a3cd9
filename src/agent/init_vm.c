/* PID 1 of a VM (the vm backend): the agent is /init of an initramfs that
 * pyro builds (lib/env/env_vm.c). Before it serves the protocol it loads
 * the kernel modules the initramfs carries, mounts the environment's
 * read-only root image (/dev/vda) and the instance's writable disk
 * (/dev/vdb) as an overlay, moves into it and opens its channel, the
 * virtio-serial port named "pyro.agent". From there on it is the same
 * agent as in a sandbox: init_mounts() gives the new root its /proc, /sys
 * and a fresh /dev, where neither the disks nor the port appear.
 *
 * The kernel command line carries the settings: pyro.vm=1 (this is a VM),
 * pyro.net=1 (configure eth0 for QEMU's user-mode network). It is the same
 * for every VM of a memory template's settings: the hostname comes with
 * the monitor's hello (identity.c). Module parameters on it ("virtio_mmio.device=...") are handed
 * to the modules, as modprobe would. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"

#define VM_CMDLINE_MAX 4096
#define VM_MODULES_LIST "/pyro/modules"
#define VM_MODULES_DIR "/lib/modules"
#define VM_PORT_NAME "pyro.agent"
#define VM_DEVICE_WAIT_MS 20000

static char cmdline[VM_CMDLINE_MAX];

/* Reads /proc/cmdline into cmdline (once /proc is mounted). */
static void read_cmdline(void)
{
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
    close(fd);
    cmdline[n > 0 ? n : 0] = '\0';
    char *nl = strchr(cmdline, '\n');
    if (nl)
        *nl = '\0';
}

/* The value of "key=value" on the command line, copied into buf. */
static bool cmdline_get(const char *key, char *buf, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = cmdline; *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchrnul(p, ' ');
        if ((size_t)(end - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            size_t vl = (size_t)(end - p) - kl - 1;
            if (vl >= size)
                vl = size - 1;
            memcpy(buf, p + kl + 1, vl);
            buf[vl] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

bool init_vm_detect(void)
{
    if (getpid() != 1)
        return false;
    if (mkdir("/proc", 0555) < 0 && errno != EEXIST)
        return false;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
        return false;
    read_cmdline();
    char v[8];
    if (cmdline_get("pyro.vm", v, sizeof(v)) && !strcmp(v, "1"))
        return true;
    umount2("/proc", MNT_DETACH);
    return false;
}

/* "name.key=value" words of the command line as "key=value ..." for module
 * name ('-' and '_' are the same in module names). */
static char *module_params(const char *name)
{
    char want[64];
    size_t wl = 0;
    for (const char *c = name; *c && wl < sizeof(want) - 2; c++)
        want[wl++] = *c == '-' ? '_' : *c;
    want[wl++] = '.';
    want[wl] = '\0';
    char *out = xstrdup("");
    for (const char *p = cmdline; *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchrnul(p, ' ');
        bool match = (size_t)(end - p) > wl;
        for (size_t i = 0; match && i < wl; i++)
            match = (p[i] == '-' ? '_' : p[i]) == want[i];
        if (match) {
            char *n = xasprintf("%s%s%.*s", out, out[0] ? " " : "", (int)(end - p - (ptrdiff_t)wl), p + wl);
            free(out);
            out = n;
        }
        p = end;
    }
    return out;
}

/* Loads the modules of /pyro/modules (one file name per line, in load
 * order) from /lib/modules. */
static int load_modules(pyro_error *err)
{
    _cleanup_fclose_ FILE *f = fopen(VM_MODULES_LIST, "re");
    if (!f)
        return errno == ENOENT ? 0 : err_errno(err, errno, "open %s", VM_MODULES_LIST);
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || strchr(line, '/'))
            continue;
        _cleanup_free_ char *path = xasprintf(VM_MODULES_DIR "/%s", line);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, errno, "open %s", path);
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(line, "."), line);
        _cleanup_free_ char *params = module_params(name);
        if (syscall(SYS_finit_module, fd, params, 0) < 0 && errno != EEXIST)
            return err_errno(err, errno, "load module %s", line);
    }
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Waits for a device node that devtmpfs creates when its driver probed. */
static int wait_path(const char *path, pyro_error *err)
{
    for (int waited = 0; access(path, F_OK) < 0; waited += 5) {
        if (waited >= VM_DEVICE_WAIT_MS)
            return err_set(err, -PYRO_E_TIMEOUT, "%s did not appear within %d ms", path, VM_DEVICE_WAIT_MS);
        sleep_ms(5);
    }
    return 0;
}

/* /dev/<port> of the virtio-serial port named VM_PORT_NAME. */
static int open_port(int *out, pyro_error *err)
{
    for (int waited = 0;; waited += 5) {
        _cleanup_closedir_ DIR *d = opendir("/sys/class/virtio-ports");
        for (struct dirent *de; d && (de = readdir(d));) {
            if (de->d_name[0] == '.')
                continue;
            _cleanup_free_ char *np = xasprintf("/sys/class/virtio-ports/%s/name", de->d_name);
            char name[64] = "";
            int fd = open(np, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, name, sizeof(name) - 1);
            close(fd);
            name[n > 0 ? n : 0] = '\0';
            name[strcspn(name, "\n")] = '\0';
            if (strcmp(name, VM_PORT_NAME))
                continue;
            _cleanup_free_ char *dev = xasprintf("/dev/%s", de->d_name);
            if (wait_path(dev, err) < 0)
                return err->code;
            int c = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (c < 0)
                return err_errno(err, errno, "open %s", dev);
            *out = c;
            return 0;
        }
        if (waited >= VM_DEVICE_WAIT_MS)
            return err_set(err, -PYRO_E_TIMEOUT, "no virtio-serial port named %s within %d ms", VM_PORT_NAME,
                           VM_DEVICE_WAIT_MS);
        sleep_ms(5);
    }
}

static int mount_disks(pyro_error *err)
{
    int r;
    if ((r = wait_path("/dev/vda", err)) < 0 || (r = wait_path("/dev/vdb", err)) < 0)
        return r;
    static const char *const dirs[] = {"/mnt", "/mnt/ro", "/mnt/rw", "/newroot"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
            return err_errno(err, errno, "mkdir %s", dirs[i]);
    if (mount("/dev/vda", "/mnt/ro", "ext4", MS_RDONLY, "noload") < 0)
        return err_errno(err, errno, "mount the root image /dev/vda");
    if (mount("/dev/vdb", "/mnt/rw", "ext4", MS_NOATIME, NULL) < 0)
        return err_errno(err, errno, "mount the writable disk /dev/vdb");
    if ((mkdir("/mnt/rw/upper", 0755) < 0 && errno != EEXIST) || (mkdir("/mnt/rw/work", 0700) < 0 && errno != EEXIST))
        return err_errno(err, errno, "prepare the writable disk");
    if (mount("overlay", "/newroot", "overlay", 0, "lowerdir=/mnt/ro,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work") < 0)
        return err_errno(err, errno, "mount the overlay root");
    return 0;
}

/* Makes /newroot the root (initramfs cannot be pivoted away from: move the
 * new root over it and chroot, as switch_root does). */
static int switch_root(pyro_error *err)
{
    static const char *const pseudo[] = {"/dev", "/sys", "/proc"};
    for (size_t i = 0; i < ARRAY_SIZE(pseudo); i++)
        umount2(pseudo[i], MNT_DETACH);
    if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
        return err_errno(err, errno, "switch to the new root");
    return 0;
}

int init_vm_setup(int *chan_fd, pyro_error *err)
{
    const unsigned long common = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if ((mkdir("/sys", 0555) < 0 && errno != EEXIST) || (mkdir("/dev", 0755) < 0 && errno != EEXIST))
        return err_errno(err, errno, "mkdir");
    if (mount("sysfs", "/sys", "sysfs", common, NULL) < 0 && errno != EBUSY)
        return err_errno(err, errno, "mount /sys");
    if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") < 0 && errno != EBUSY)
        return err_errno(err, errno, "mount /dev");
    int r = load_modules(err);
    if (r == 0)
        r = mount_disks(err);
    _cleanup_close_ int port = -1;
    if (r == 0)
        r = open_port(&port, err);
    if (r == 0)
        r = switch_root(err);
    if (r < 0) {
        fprintf(stderr, AGENT_NAME ": %s\n", err->message);
        return r;
    }
    char net[8] = "";
    cmdline_get("pyro.net", net, sizeof(net));
    init_vm_net(!strcmp(net, "1"));
    *chan_fd = TAKE_FD(port);
    return 0;
}
