/*
 * echo_uring: TCP echo server on 127.0.0.1:PORT, one thread, io_uring.
 *
 * The completion-model reference, and the floor for "server CPU per round
 * trip": each connection alternates one recv of up to 64 KiB and one send
 * of what came (sending the rest again after a short send), all through the
 * ring. SQEs prepared while handling a batch of completions are submitted
 * together by the next io_uring_submit_and_wait(), so a busy server makes
 * one io_uring_enter(2) per batch, not one per operation.
 *
 * Kernel facts relied on:
 * - Multishot accept (Linux 5.19) posts one CQE per connection and stays
 *   armed while the CQE carries IORING_CQE_F_MORE; without it the accept is
 *   re-armed. On older kernels it fails with -EINVAL and a plain accept,
 *   re-armed after each completion, takes its place.
 * - IORING_SETUP_SINGLE_ISSUER (6.0) with IORING_SETUP_DEFER_TASKRUN (6.1)
 *   runs completion work only when this thread enters the kernel to wait,
 *   instead of interrupting it; io_uring_queue_init() returns -EINVAL where
 *   they are unknown and the ring is set up without them. Pass "plain" as
 *   the second argument to measure without them.
 * - A recv on a socket with no data arms an internal poll and completes
 *   when data arrives; no readiness step is visible here.
 *
 * usage: echo_uring PORT [plain]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define RING_ENTRIES 4096
#define CQE_BATCH 256

/* user_data of the accept SQE; connections use their struct's address. */
#define ACCEPT_TAG 1ull

enum state { RECEIVING, SENDING };

struct conn {
    int fd;
    enum state state;  /* one op in flight per connection: this says which */
    size_t off, len;   /* bytes of buf already sent, bytes to send */
    char buf[BUF_SIZE];
};

static struct io_uring ring;
static int listen_fd;
static int multishot_accept = 1;

static void die(const char *what, int err)
{
    fprintf(stderr, "echo_uring: %s: %s\n", what, strerror(err));
    exit(1);
}

/* An SQE, submitting what is queued first if the SQ is full. */
static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) {
        int r = io_uring_submit(&ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            die("io_uring_submit", -r);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    if (multishot_accept)
        io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ACCEPT_TAG);
}

static void arm_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
    io_uring_sqe_set_data(sqe, c);
    c->state = RECEIVING;
}

static void arm_send(struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, c);
    c->state = SENDING;
}

static void drop(struct conn *c)
{
    /* No op of this connection is in flight: each completion is handled
     * before the next op is armed. */
    close(c->fd);
    free(c);
}

static void on_accept(int res, unsigned flags)
{
    if (res == -EINVAL && multishot_accept) {
        multishot_accept = 0;
        arm_accept();
        return;
    }
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept();
    if (res < 0)
        return;  /* ECONNABORTED, EMFILE: skip this one, keep serving */
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = malloc(sizeof *c);
    if (!c)
        die("malloc", ENOMEM);
    c->fd = res;
    arm_recv(c);
}

static void on_conn(struct conn *c, int res)
{
    if (c->state == RECEIVING) {
        if (res <= 0) {
            drop(c);  /* 0: the peer closed; < 0: reset and the like */
            return;
        }
        c->off = 0;
        c->len = (size_t)res;
        arm_send(c);
        return;
    }
    if (res < 0) {
        drop(c);
        return;
    }
    c->off += (size_t)res;
    if (c->off < c->len)
        arm_send(c);
    else
        arm_recv(c);
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket", errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind", errno);
    if (listen(fd, SOMAXCONN) < 0)
        die("listen", errno);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "plain") != 0)) {
        fprintf(stderr, "usage: %s PORT [plain]\n", argv[0]);
        return 1;
    }
    listen_fd = listen_on(atoi(argv[1]));

    int r = -EINVAL;
    if (argc == 2)
        r = io_uring_queue_init(RING_ENTRIES, &ring,
                                IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (r == -EINVAL)
        r = io_uring_queue_init(RING_ENTRIES, &ring, 0);
    if (r < 0)
        die("io_uring_queue_init", -r);

    arm_accept();
    struct io_uring_cqe *cqes[CQE_BATCH];
    for (;;) {
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            die("io_uring_submit_and_wait", -r);
        unsigned n;
        while ((n = io_uring_peek_batch_cqe(&ring, cqes, CQE_BATCH)) > 0) {
            for (unsigned i = 0; i < n; i++) {
                struct io_uring_cqe *cqe = cqes[i];
                if (io_uring_cqe_get_data64(cqe) == ACCEPT_TAG)
                    on_accept(cqe->res, cqe->flags);
                else
                    on_conn(io_uring_cqe_get_data(cqe), cqe->res);
            }
            /* The handlers only prepare SQEs, never reap, so the CQEs stay
             * valid until here. */
            io_uring_cq_advance(&ring, n);
        }
    }
}
