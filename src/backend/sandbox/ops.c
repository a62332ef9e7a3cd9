/* The sandbox backend's ops table (backend.h), chosen through backend_get(). */
#include "backend/sandbox/sandbox.h"

const struct backend_ops sandbox_backend_ops = {
    .name = "sandbox",
    .start = sandbox_start,
    .kill = backend_instance_kill,
    .release = backend_instance_release,
    .destroy = sandbox_destroy,
    .destroy_instance = sandbox_destroy_instance,
};
