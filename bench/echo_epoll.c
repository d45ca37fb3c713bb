/*
 * echo_epoll: TCP echo server on 127.0.0.1:PORT, one thread, epoll.
 *
 * The readiness-model reference: level-triggered epoll, one read(2) of up
 * to 64 KiB per readable event and one write(2) of what came. Nothing is
 * buffered beyond what a short write leaves over; while such a remainder
 * waits for EPOLLOUT the connection is not read (back-pressure reaches the
 * client through TCP instead of through this process's memory).
 *
 * usage: echo_epoll PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

struct conn {
    int fd;
    size_t off, len;   /* unwritten remainder of buf, when a write fell short */
    char buf[BUF_SIZE];
};

static void die(const char *what)
{
    fprintf(stderr, "echo_epoll: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(fd, SOMAXCONN) < 0)
        die("listen");
    return fd;
}

static void drop(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void watch(int ep, int op, struct conn *c, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) < 0)
        die("epoll_ctl");
}

/* Write the pending remainder. Returns 1 when all is written, 0 when the
 * socket buffer is full, -1 on error. */
static int push(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
        if (w >= 0) {
            c->off += (size_t)w;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    c->off = c->len = 0;
    return 1;
}

static void on_event(int ep, struct conn *c, unsigned events)
{
    if (c->len > 0) {
        /* Waiting for EPOLLOUT to finish a short write. */
        int r = push(c);
        if (r < 0)
            drop(ep, c);
        else if (r > 0)
            watch(ep, EPOLL_CTL_MOD, c, EPOLLIN);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t n = read(c->fd, c->buf, BUF_SIZE);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(ep, c);
        return;
    }
    if (n < 0)
        return;
    c->len = (size_t)n;
    int r = push(c);
    if (r < 0)
        drop(ep, c);
    else if (r == 0)
        watch(ep, EPOLL_CTL_MOD, c, EPOLLOUT);
}

static void on_accept(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* EAGAIN: backlog drained. EMFILE and the like: try again on
             * the next readiness event rather than dying mid-benchmark. */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c)
            die("malloc");
        c->fd = fd;
        c->off = c->len = 0;
        watch(ep, EPOLL_CTL_ADD, c, EPOLLIN);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 1;
    }
    int lfd = listen_on(atoi(argv[1]));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    /* The listener is told apart from connections by a NULL data pointer. */
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
        die("epoll_ctl");

    enum { MAX_EVENTS = 256 };
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                on_accept(ep, lfd);
            else
                on_event(ep, evs[i].data.ptr, evs[i].events);
        }
    }
}
