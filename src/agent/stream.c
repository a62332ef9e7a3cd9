/* Streamed bodies: requests whose body arrives as data frames (tar_in,
 * large file_write) and responses whose body leaves as data frames paced
 * by the host's acks (tar_out). */
#include "agent/agent.h"
#include "base/cleanup.h"

void agent_stream_in_add(struct agent *a, struct stream_in *s)
{
    s->next = a->ins;
    a->ins = s;
}

void agent_stream_out_add(struct agent *a, struct stream_out *s)
{
    s->next = a->outs;
    a->outs = s;
}

void agent_stream_in_free(struct stream_in *s)
{
    if (!s)
        return;
    if (s->free)
        s->free(s->state);
    free(s);
}

static void stream_out_free(struct stream_out *s)
{
    if (s->free)
        s->free(s->state);
    free(s);
}

struct stream_in *agent_stream_in_take(struct agent *a, int64_t id)
{
    for (struct stream_in **pp = &a->ins; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct stream_in *s = *pp;
            *pp = s->next;
            return s;
        }
    return NULL;
}

struct stream_in *agent_stream_in_find(struct agent *a, int64_t id)
{
    for (struct stream_in *s = a->ins; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

bool agent_stream_out_busy(struct agent *a, int64_t id)
{
    for (struct stream_out *s = a->outs; s; s = s->next)
        if (s->id == id)
            return true;
    return false;
}

void agent_stream_out_credit(struct agent *a, int64_t id, int64_t bytes)
{
    for (struct stream_out *s = a->outs; s; s = s->next)
        if (s->id == id && bytes > 0) {
            s->credit += (uint64_t)bytes;
            if (s->credit > 64u * PROTO_WINDOW)
                s->credit = 64u * PROTO_WINDOW;
        }
}

void agent_streams_pump(struct agent *a)
{
    static uint8_t chunk[PROTO_CHUNK];

    for (struct stream_out **pp = &a->outs; *pp;) {
        struct stream_out *s = *pp;
        pyro_error err = {0};
        bool finished = false;

        while (!a->chan_eof && s->credit > 0 && agent_outq_pending(a) < AGENT_OUTQ_HIGH) {
            size_t cap = s->credit < PROTO_CHUNK ? (size_t)s->credit : PROTO_CHUNK;
            ssize_t n = s->produce(s->state, chunk, cap, &err);
            if (n < 0) {
                agent_reply_err(a, s->id, &err);
                finished = true;
                break;
            }
            if (n == 0) {
                agent_reply_ok(a, s->id, s->result(s->state, s->sent), NULL, 0);
                finished = true;
                break;
            }
            s->credit -= (uint64_t)n;
            s->sent += (uint64_t)n;
            agent_send(a, proto_header_new(PROTO_DATA, s->id), chunk, (size_t)n);
        }
        if (finished || a->chan_eof) {
            *pp = s->next;
            stream_out_free(s);
        } else {
            pp = &s->next;
        }
    }
}

void agent_streams_free_all(struct agent *a)
{
    while (a->ins) {
        struct stream_in *s = a->ins;
        a->ins = s->next;
        agent_stream_in_free(s);
    }
    while (a->outs) {
        struct stream_out *s = a->outs;
        a->outs = s->next;
        stream_out_free(s);
    }
}
