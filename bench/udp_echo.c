/* UDP echo for bench/udp.py: a server and the load generator, in one program.
 *
 *   udp_echo serve PORT
 *       Echo every datagram back to its sender on 127.0.0.1:PORT. Blocking
 *       recvmmsg(2) of up to 64 datagrams, then one sendmmsg(2) of them all:
 *       the fewest system calls per datagram a single thread can make.
 *
 *   udp_echo load PORT CLIENTS SIZE WARMUP SECONDS SERVER_PID
 *       CLIENTS sockets, each connected to the server with one datagram of
 *       SIZE bytes in flight (send, wait for the echo, send again), driven by
 *       one epoll loop. After WARMUP seconds it counts echoes for SECONDS
 *       seconds and reads SERVER_PID's utime+stime (/proc/PID/stat) at the
 *       window's edges. A client whose echo is 200 ms late sends again (the
 *       datagram counts as lost). Prints one line of JSON:
 *       {"datagrams": N, "seconds": S, "server_cpu": C, "lost": L}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXSIZE 65536
#define RESEND_NS 200000000LL

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

static _Noreturn void serve(int port)
{
    static char bufs[BATCH][MAXSIZE];
    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    struct sockaddr_in peers[BATCH];
    struct sockaddr_in sa = loopback(port);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iovs[i].iov_base = bufs[i];
            iovs[i].iov_len = MAXSIZE;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
        }
        /* Block for the first datagram, then take what else is queued. */
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("recvmmsg");
        }
        for (int i = 0; i < n; i++)
            iovs[i].iov_len = msgs[i].msg_len;
        int sent = 0;
        while (sent < n) {
            int m = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
            if (m < 0) {
                if (errno == EINTR)
                    continue;
                die("sendmmsg");
            }
            sent += m;
        }
    }
}

static double cpu_seconds(long pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    unsigned long utime = 0, stime = 0;
    /* after ')': state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int load(int port, int clients, int size, double warmup, double seconds, long pid)
{
    char *payload = calloc(1, (size_t)size);
    char buf[MAXSIZE];
    int *fds = calloc((size_t)clients, sizeof(int));
    long long *sent_at = calloc((size_t)clients, sizeof(long long));
    struct sockaddr_in sa = loopback(port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!payload || !fds || !sent_at || ep < 0)
        die("setup");
    for (int i = 0; i < clients; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0)
            die("client socket");
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            die("epoll_ctl");
    }
    long long start = now_ns();
    long long t0 = start + (long long)(warmup * 1e9);
    long long t1 = t0 + (long long)(seconds * 1e9);
    for (int i = 0; i < clients; i++) {
        send(fds[i], payload, (size_t)size, 0);
        sent_at[i] = start;
    }
    long long count = 0, lost = 0;
    double cpu0 = -1, cpu1 = -1;
    int counting = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 50);
        long long t = now_ns();
        if (!counting && t >= t0) {
            counting = 1;
            cpu0 = cpu_seconds(pid);
            t0 = t;
        }
        if (t >= t1) {
            cpu1 = cpu_seconds(pid);
            t1 = t;
            break;
        }
        for (int k = 0; k < n; k++) {
            int i = (int)evs[k].data.u32;
            for (;;) {
                ssize_t r = recv(fds[i], buf, sizeof buf, 0);
                if (r < 0)
                    break;
                if (r != size) {
                    fprintf(stderr, "echo of %zd bytes, sent %d\n", r, size);
                    return 1;
                }
                if (counting)
                    count++;
                send(fds[i], payload, (size_t)size, 0);
                sent_at[i] = t;
            }
        }
        for (int i = 0; i < clients; i++) {
            if (t - sent_at[i] > RESEND_NS) {
                if (counting)
                    lost++;
                send(fds[i], payload, (size_t)size, 0);
                sent_at[i] = t;
            }
        }
    }
    printf("{\"datagrams\": %lld, \"seconds\": %.6f, \"server_cpu\": %.4f, \"lost\": %lld}\n",
           count, (double)(t1 - t0) / 1e9, cpu1 - cpu0, lost);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        serve(atoi(argv[2]));
    if (argc == 8 && strcmp(argv[1], "load") == 0)
        return load(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5]), atof(argv[6]),
                    atol(argv[7]));
    fprintf(stderr,
            "usage: udp_echo serve PORT\n"
            "       udp_echo load PORT CLIENTS SIZE WARMUP SECONDS SERVER_PID\n");
    return 2;
}
