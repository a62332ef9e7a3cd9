/* Network setup inside an instance's network namespace, by its child with
 * plain ioctls (no allocation): lo up, and with egress networking eth0
 * addressed, up, and the default route via the gateway. eth0 is there
 * before the parent's "go": the inner end of the veth the parent made (as
 * root, netguard.c; the gateway is the host end), or in a user's sandbox
 * pasta's tap (pasta answers for the gateway and every other address on
 * it, and its guard is already loaded, userguard.c). A
 * sandbox's child calls it (sandbox/child.c), and so does a VM's QEMU's
 * child for the namespace QEMU's user-mode network runs in
 * (vm/confine.c). */
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/netns.h"

static void name_set(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    size_t n = strlen(name);
    memcpy(ifr->ifr_name, name, n < IF_NAMESIZE - 1 ? n : IF_NAMESIZE - 1);
}

static int link_up(int s, const char *name)
{
    struct ifreq ifr;
    name_set(&ifr, name);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(s, SIOCSIFFLAGS, &ifr);
}

static void sin_set(struct sockaddr *sa, struct in_addr a)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = a};
    memcpy(sa, &sin, sizeof(sin));
}

static int eth0_setup(int s, struct in_addr addr, struct in_addr gateway, struct in_addr netmask, const char **what)
{
    struct ifreq ifr;
    *what = "set the address of eth0";
    name_set(&ifr, "eth0");
    sin_set(&ifr.ifr_addr, addr);
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
        return -1;
    *what = "set the netmask of eth0";
    name_set(&ifr, "eth0");
    sin_set(&ifr.ifr_netmask, netmask);
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
        return -1;
    *what = "bring eth0 up";
    if (link_up(s, "eth0") < 0)
        return -1;
    *what = "add the default route";
    struct rtentry rt;
    memset(&rt, 0, sizeof(rt));
    sin_set(&rt.rt_dst, (struct in_addr){0});
    sin_set(&rt.rt_genmask, (struct in_addr){0});
    sin_set(&rt.rt_gateway, gateway);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)"eth0";
    return ioctl(s, SIOCADDRT, &rt);
}

int netns_setup(bool eth0, struct in_addr addr, struct in_addr gateway, struct in_addr netmask, const char **what)
{
    *what = "open a configuration socket";
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int r;
    *what = "bring lo up";
    r = link_up(s, "lo");
    if (r == 0 && eth0)
        r = eth0_setup(s, addr, gateway, netmask, what);
    int saved = errno;
    close(s);
    errno = saved;
    return r;
}
