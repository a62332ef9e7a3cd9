/* The vm backend's ops table (backend.h), chosen through backend_get(). */
#include "backend/vm/vm.h"

const struct backend_ops vm_backend_ops = {
    .name = "vm",
    .start = vm_start,
    .kill = backend_instance_kill,
    .release = backend_instance_release,
    .destroy = vm_destroy,
};
