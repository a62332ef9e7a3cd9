/* The network of a VM's guest: lo always; with the network on, eth0 set
 * up for QEMU's user-mode network (slirp's fixed plan: the guest is
 * 10.0.2.15/24, the gateway 10.0.2.2, the resolver 10.0.2.3) and
 * /etc/resolv.conf pointing at it. Plain ioctls: no netlink needed for one
 * address and one route. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"

#define VM_NET_GUEST "10.0.2.15"
#define VM_NET_MASK "255.255.255.0"
#define VM_NET_GATEWAY "10.0.2.2"
#define VM_NET_DNS "10.0.2.3"

static void set_sin(struct sockaddr *sa, const char *addr)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, addr, &sin.sin_addr);
    memcpy(sa, &sin, sizeof(sin));
}

static int link_up(int s, const char *ifname)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return -errno;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

static int eth0_setup(int s)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
    /* The NIC's driver (virtio_net) probes asynchronously: wait a little. */
    for (int i = 0; ioctl(s, SIOCGIFINDEX, &ifr) < 0; i++) {
        if (i >= 400)
            return -ENODEV;
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    set_sin(&ifr.ifr_addr, VM_NET_GUEST);
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
        return -errno;
    set_sin(&ifr.ifr_netmask, VM_NET_MASK);
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
        return -errno;
    int r = link_up(s, "eth0");
    if (r < 0)
        return r;
    struct rtentry rt = {0};
    set_sin(&rt.rt_dst, "0.0.0.0");
    set_sin(&rt.rt_genmask, "0.0.0.0");
    set_sin(&rt.rt_gateway, VM_NET_GATEWAY);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void write_resolv_conf(void)
{
    /* Replaces a link (Debian's may point into /run) with a file. */
    unlink("/etc/resolv.conf");
    int fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    static const char text[] = "nameserver " VM_NET_DNS "\n";
    (void)!write(fd, text, sizeof(text) - 1);
    close(fd);
}

void init_vm_net(bool network)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    int r = link_up(s, "lo");
    if (r < 0)
        fprintf(stderr, AGENT_NAME ": lo: %s\n", strerror(-r));
    if (!network)
        return;
    r = eth0_setup(s);
    if (r < 0)
        fprintf(stderr, AGENT_NAME ": eth0: %s\n", strerror(-r));
    else
        write_resolv_conf();
}
