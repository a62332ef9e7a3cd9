/* Inside an instance's network namespace, by a child that still holds
 * CAP_NET_ADMIN there, with plain ioctls (no allocation: safe after
 * clone): lo up and, with eth0, its address, netmask, link and default
 * route. */
#ifndef PYRO_BACKEND_NETNS_H
#define PYRO_BACKEND_NETNS_H

#include <netinet/in.h>
#include <stdbool.h>

/* 0, or -1 with errno set and *what naming the failed step (static). */
int netns_setup(bool eth0, struct in_addr addr, struct in_addr gateway, struct in_addr netmask, const char **what);

#endif
