/*
 * tls_loadgen: closed-loop TLS 1.3 echo load generator (OpenSSL, epoll).
 *
 * Echo mode (default): N connections each do a full TLS 1.3 handshake, then
 * ping-pong: write an M-byte message, wait until M bytes came back, write the
 * next. Handshake mode (-H): N slots each connect, handshake, exchange one
 * byte (so the server finished its side too), send close_notify, close, and
 * start again; no session resumption, so every handshake is a full one.
 *
 * One thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY.
 * The warm-up runs the same traffic without counting. With -s PID the
 * server's utime+stime is read from /proc/PID/stat at the exact edges of the
 * measured window, so its CPU time covers the operations counted.
 *
 * Output: one JSON object on one line. Exit status 0 on success, 1 on bad
 * arguments or setup failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, HANDSHAKE, RUNNING };

struct conn {
    int fd;
    SSL *ssl;
    enum state state;
    size_t got;          /* bytes of the current message echoed so far */
    int write_pending;   /* SSL_write said WANT_WRITE: retry on EPOLLOUT */
};

static int port, nconns = 100, handshakes;
static size_t msg_size = 1024;
static double duration = 5, warmup = 1;
static int server_pid;
static int ep;
static SSL_CTX *ctx;
static char *msg, *rbuf;
static int counting;
static uint64_t done_ops, errors;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime+stime of a process in seconds (proc(5), fields 14 and 15), or -1. */
static double proc_cpu(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut, st;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void arm(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void start(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = NULL;
    c->got = 0;
    c->write_pending = 0;
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(1);
    }
}

static void finish(struct conn *c, int clean)
{
    if (c->ssl) {
        if (clean)
            SSL_shutdown(c->ssl); /* sends close_notify; the answer is not awaited */
        SSL_free(c->ssl);
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    start(c);
}

static void fail(struct conn *c)
{
    errors++;
    ERR_clear_error();
    finish(c, 0);
}

/* Write the next message; returns 0 on success or pending, -1 on error. */
static int send_msg(struct conn *c)
{
    size_t size = handshakes ? 1 : msg_size;
    int r = SSL_write(c->ssl, msg, (int)size);
    if (r > 0) {
        if (c->write_pending) {
            c->write_pending = 0;
            arm(c, EPOLLIN);
        }
        return 0;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        c->write_pending = 1;
        arm(c, EPOLLIN | EPOLLOUT);
        return 0;
    }
    return -1;
}

static void handshake(struct conn *c)
{
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        c->state = RUNNING;
        arm(c, EPOLLIN);
        if (send_msg(c) < 0)
            fail(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        arm(c, EPOLLIN);
    else if (e == SSL_ERROR_WANT_WRITE)
        arm(c, EPOLLIN | EPOLLOUT);
    else
        fail(c);
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail(c);
            return;
        }
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, c->fd);
        c->state = HANDSHAKE;
        handshake(c);
        return;
    }
    if (c->state == HANDSHAKE) {
        handshake(c);
        return;
    }
    if (c->write_pending && (events & EPOLLOUT)) {
        if (send_msg(c) < 0) {
            fail(c);
            return;
        }
    }
    size_t size = handshakes ? 1 : msg_size;
    for (;;) {
        int r = SSL_read(c->ssl, rbuf, 65536);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            fail(c);
            return;
        }
        c->got += (size_t)r;
        while (c->got >= size) {
            c->got -= size;
            if (counting)
                done_ops++;
            if (handshakes) {
                finish(c, 1);
                return;
            }
            if (send_msg(c) < 0) {
                fail(c);
                return;
            }
        }
    }
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "p:c:m:d:w:s:H")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'm': msg_size = (size_t)atol(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 's': server_pid = atoi(optarg); break;
        case 'H': handshakes = 1; break;
        default:
            fprintf(stderr, "usage: %s -p PORT [-c CONNS] [-m SIZE] [-d S] [-w S] [-s PID] [-H]\n",
                    argv[0]);
            return 1;
        }
    }
    if (port <= 0 || nconns <= 0 || msg_size == 0 || msg_size > 65536) {
        fprintf(stderr, "bad arguments\n");
        return 1;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    msg = malloc(msg_size);
    rbuf = malloc(65536);
    memset(msg, 'x', msg_size);
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++)
        start(&conns[i]);
    struct epoll_event evs[256];
    double t0 = now(), t_start = t0 + warmup, t_end = t_start + duration;
    double srv0 = -1, srv1 = -1, cpu0 = 0, cpu1 = 0, measured = 0;
    for (;;) {
        double t = now();
        if (!counting && t >= t_start && measured == 0) {
            counting = 1;
            t_start = t;
            t_end = t + duration;
            srv0 = server_pid ? proc_cpu(server_pid) : -1;
            cpu0 = self_cpu();
        } else if (counting && t >= t_end) {
            srv1 = server_pid ? proc_cpu(server_pid) : -1;
            cpu1 = self_cpu();
            measured = t - t_start;
            break;
        }
        int n = epoll_wait(ep, evs, 256, 10);
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
    }
    printf("{\"mode\":\"%s\",\"conns\":%d,\"size\":%zu,\"seconds\":%.4f,\"ops\":%llu,"
           "\"ops_per_s\":%.1f,\"errors\":%llu,\"loadgen_cpu\":%.4f",
           handshakes ? "handshake" : "echo", nconns, msg_size, measured,
           (unsigned long long)done_ops, (double)done_ops / measured,
           (unsigned long long)errors, (cpu1 - cpu0) / measured);
    if (srv0 >= 0 && srv1 >= 0)
        printf(",\"server_cpu_s\":%.4f,\"server_cpu_us_per_op\":%.3f", srv1 - srv0,
               done_ops ? (srv1 - srv0) * 1e6 / (double)done_ops : 0.0);
    printf("}\n");
    return 0;
}
