/*
 * loadgen: closed-loop TCP echo load generator.
 *
 * N connections each keep P messages of M bytes in flight: write a message,
 * wait until M bytes have come back, write the next one. An echo server
 * returns bytes in order, so the k-th M-byte chunk read back completes the
 * k-th message written; a ring of P send timestamps per connection gives
 * each message's latency without tagging the payload.
 *
 * One thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY.
 * Per round trip the generator makes one read and one write (pipelined
 * messages share both), so it costs about what the leanest C echo server
 * costs; it reports its own CPU share so that a run where it, not the
 * server, was saturated can be recognised.
 *
 * The warm-up phase runs the same traffic without recording. The measured
 * window starts and ends at exact instants; with -s PID the server's
 * utime+stime is sampled from /proc/PID/stat at those instants, so its CPU
 * time covers exactly the round trips counted.
 *
 * Output: one JSON object on one line on stdout. Exit status 0 on success,
 * 1 on bad arguments or setup failure, 2 if every connection failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Latency histogram, log-linear: values below 2^SUB_BITS nanoseconds have a
 * bucket each; above, every power of two is split into 2^SUB_BITS equal
 * buckets. With SUB_BITS = 6 a bucket spans at most 1/64 of its values, so
 * its middle, the value reported, is within 0.8% of every sample in it.
 */
#define SUB_BITS 6
#define SUB_COUNT (1u << SUB_BITS)
#define BUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)

static uint64_t hist[BUCKETS];

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);  /* e >= SUB_BITS */
    unsigned sub = (unsigned)(v >> (e - SUB_BITS)) & (SUB_COUNT - 1);
    return (e - SUB_BITS + 1) * SUB_COUNT + sub;
}

/* The middle of a bucket's range, the value reported for samples in it. */
static double bucket_mid(unsigned b)
{
    if (b < SUB_COUNT)
        return (double)b;
    unsigned e = b / SUB_COUNT + SUB_BITS - 1;
    uint64_t sub = b % SUB_COUNT;
    uint64_t width = 1ull << (e - SUB_BITS);
    uint64_t lo = (1ull << e) + sub * width;
    return (double)lo + (double)(width - 1) / 2.0;
}

static double percentile(uint64_t total, double q)
{
    if (total == 0)
        return 0.0;
    /* Rank of the sample at quantile q, 1-based, nearest-rank method. */
    uint64_t rank = (uint64_t)(q * (double)total);
    if ((double)rank < q * (double)total)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += hist[b];
        if (seen >= rank)
            return bucket_mid(b);
    }
    return bucket_mid(BUCKETS - 1);
}

struct conn {
    int fd;
    uint32_t in_flight;   /* messages written (or queued) but not yet echoed */
    uint32_t head;        /* ring index of the oldest in-flight message */
    size_t unsent;        /* bytes queued but not yet accepted by write(2) */
    size_t rx_partial;    /* bytes of the oldest message already read back */
    int want_out;         /* EPOLLOUT registered: the socket buffer was full */
    uint64_t *sent_ns;    /* ring of `pipeline` send timestamps */
};

static struct {
    const char *host;
    const char *port;
    int conns;
    size_t size;
    uint32_t pipeline;
    double duration;
    double warmup;
    long server_pid;
} opt = {"127.0.0.1", NULL, 100, 1024, 1, 5.0, 1.0, 0};

static char *send_buf;       /* pipeline * size bytes of payload, never modified */
static size_t send_buf_len;
static char recv_buf[1 << 16];

static int recording;        /* inside the measured window */
static uint64_t round_trips; /* completed inside the measured window */
static uint64_t lat_sum_ns;
static uint64_t lat_max_ns;
static uint64_t errors;
static int live_conns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * utime + stime of a process from /proc/PID/stat (proc(5): fields 14 and
 * 15, in clock ticks; the leader's line covers all of its threads). The
 * command name (field 2) may hold spaces and parentheses, so parsing starts
 * after its last ')'. Returns -1 if the file cannot be read.
 */
static double cpu_seconds_of(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1.0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1.0;
    unsigned long long utime = 0, stime = 0;
    /* After ')' come field 3 (state) .. field 15 (stime). */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2)
        return -1.0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void close_conn(int ep, struct conn *c)
{
    if (c->fd < 0)
        return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    live_conns--;
}

static void set_out_interest(int ep, struct conn *c, int want)
{
    if (c->want_out == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->want_out = want;
}

/* Queue one message: its clock starts now, while it waits for the socket. */
static void issue(struct conn *c, uint64_t t)
{
    uint32_t slot = (c->head + c->in_flight) % opt.pipeline;
    c->sent_ns[slot] = t;
    c->in_flight++;
    c->unsent += opt.size;
}

/* Write queued bytes until done or the socket buffer is full. */
static int flush(int ep, struct conn *c)
{
    while (c->unsent > 0) {
        size_t n = c->unsent < send_buf_len ? c->unsent : send_buf_len;
        ssize_t w = write(c->fd, send_buf, n);
        if (w > 0) {
            c->unsent -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out_interest(ep, c, 1);
            return 0;
        }
        return -1;
    }
    set_out_interest(ep, c, 0);
    return 0;
}

/* Read what the server echoed; each complete message is one round trip. */
static int on_readable(struct conn *c, uint64_t t)
{
    ssize_t r = read(c->fd, recv_buf, sizeof recv_buf);
    if (r == 0)
        return -1;
    if (r < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    size_t got = (size_t)r + c->rx_partial;
    while (got >= opt.size && c->in_flight > 0) {
        got -= opt.size;
        uint64_t lat = t - c->sent_ns[c->head];
        c->head = (c->head + 1) % opt.pipeline;
        c->in_flight--;
        if (recording) {
            hist[bucket_of(lat)]++;
            lat_sum_ns += lat;
            if (lat > lat_max_ns)
                lat_max_ns = lat;
            round_trips++;
        }
        issue(c, t);
    }
    if (got >= opt.size) {
        /* More bytes came back than were sent: not an echo server. */
        errno = EPROTO;
        return -1;
    }
    c->rx_partial = got;
    return 0;
}

static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        die("socket");
    /* Blocking connect: loopback completes the handshake in the kernel even
     * before the server calls accept, so this returns at once. */
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        die("connect");
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("setsockopt(TCP_NODELAY)");
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("fcntl");
    return fd;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s -p PORT [-H HOST] [-c CONNS] [-m BYTES] [-P DEPTH]\n"
            "          [-d SECONDS] [-w SECONDS] [-s SERVER_PID]\n"
            "  -c  connections (default 100)\n"
            "  -m  message size in bytes (default 1024)\n"
            "  -P  messages in flight per connection (default 1)\n"
            "  -d  measured duration (default 5)\n"
            "  -w  warm-up before measuring (default 1)\n"
            "  -s  sample this PID's CPU time at the window's edges\n",
            argv0);
    exit(1);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "H:p:c:m:P:d:w:s:h")) != -1) {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = optarg; break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'm': opt.size = (size_t)strtoull(optarg, NULL, 10); break;
        case 'P': opt.pipeline = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 's': opt.server_pid = atol(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (!opt.port || opt.conns < 1 || opt.size < 1 || opt.pipeline < 1 ||
        opt.duration <= 0 || opt.warmup < 0)
        usage(argv[0]);

    /* One fd per connection: raise the soft limit as far as needed (and
     * the hard one where allowed) so 10,000 connections fit. */
    struct rlimit nofile;
    rlim_t need = (rlim_t)opt.conns + 64;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < need) {
        struct rlimit want = {need, nofile.rlim_max > need ? nofile.rlim_max : need};
        if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
            want.rlim_cur = want.rlim_max = nofile.rlim_max;
            setrlimit(RLIMIT_NOFILE, &want);
        }
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    int gai = getaddrinfo(opt.host, opt.port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "loadgen: %s:%s: %s\n", opt.host, opt.port, gai_strerror(gai));
        return 1;
    }

    send_buf_len = opt.size * opt.pipeline;
    send_buf = malloc(send_buf_len);
    if (!send_buf)
        die("malloc");
    for (size_t i = 0; i < send_buf_len; i++)
        send_buf[i] = (char)('a' + i % 26);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct conn *conns = calloc((size_t)opt.conns, sizeof *conns);
    if (!conns)
        die("calloc");
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        c->fd = connect_one(ai);
        c->sent_ns = calloc(opt.pipeline, sizeof *c->sent_ns);
        if (!c->sent_ns)
            die("calloc");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
        live_conns++;
    }
    freeaddrinfo(ai);

    uint64_t t0 = now_ns();
    for (int i = 0; i < opt.conns; i++) {
        for (uint32_t k = 0; k < opt.pipeline; k++)
            issue(&conns[i], t0);
        if (flush(ep, &conns[i]) < 0) {
            errors++;
            close_conn(ep, &conns[i]);
        }
    }

    uint64_t start_ns = t0 + (uint64_t)(opt.warmup * 1e9);
    uint64_t end_ns = start_ns + (uint64_t)(opt.duration * 1e9);
    uint64_t window_start_ns = 0, window_end_ns = 0;
    double self_cpu0 = 0, srv_cpu0 = -1, self_cpu1 = 0, srv_cpu1 = -1;
    int finished = 0;

    enum { MAX_EVENTS = 256 };
    struct epoll_event evs[MAX_EVENTS];
    while (live_conns > 0) {
        uint64_t t = now_ns();
        if (!recording && t >= start_ns) {
            recording = 1;
            window_start_ns = t;
            self_cpu0 = cpu_seconds_self();
            if (opt.server_pid)
                srv_cpu0 = cpu_seconds_of(opt.server_pid);
        }
        if (recording && t >= end_ns) {
            recording = 0;
            finished = 1;
            window_end_ns = t;
            self_cpu1 = cpu_seconds_self();
            if (opt.server_pid)
                srv_cpu1 = cpu_seconds_of(opt.server_pid);
            break;
        }
        uint64_t deadline = recording ? end_ns : start_ns;
        int timeout_ms = (int)((deadline - t) / 1000000u) + 1;
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        /* One clock read per event: cheap (vDSO) and keeps a long batch
         * from charging its processing time to the later events. */
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            uint64_t te = now_ns();
            int bad = 0;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                bad = on_readable(c, te) < 0;
            if (!bad)
                bad = flush(ep, c) < 0;
            if (bad) {
                errors++;
                close_conn(ep, c);
            }
        }
    }
    if (!finished) {
        /* Every connection failed before the window closed. */
        window_end_ns = now_ns();
        self_cpu1 = cpu_seconds_self();
        if (opt.server_pid)
            srv_cpu1 = cpu_seconds_of(opt.server_pid);
        if (!window_start_ns) {
            window_start_ns = window_end_ns;
            self_cpu0 = self_cpu1;
            srv_cpu0 = srv_cpu1;
        }
    }
    for (int i = 0; i < opt.conns; i++)
        close_conn(ep, &conns[i]);

    double secs = (double)(window_end_ns - window_start_ns) / 1e9;
    double rate = secs > 0 ? (double)round_trips / secs : 0.0;
    double srv_cpu = (srv_cpu0 >= 0 && srv_cpu1 >= 0) ? srv_cpu1 - srv_cpu0 : -1.0;
    printf("{\"conns\": %d, \"size\": %zu, \"pipeline\": %u, \"seconds\": %.4f, "
           "\"round_trips\": %llu, \"rt_per_s\": %.1f, "
           "\"mean_us\": %.2f, \"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, "
           "\"p999_us\": %.2f, \"max_us\": %.2f, \"errors\": %llu, "
           "\"loadgen_cpu\": %.3f",
           opt.conns, opt.size, opt.pipeline, secs, (unsigned long long)round_trips, rate,
           round_trips ? (double)lat_sum_ns / (double)round_trips / 1e3 : 0.0,
           percentile(round_trips, 0.50) / 1e3, percentile(round_trips, 0.90) / 1e3,
           percentile(round_trips, 0.99) / 1e3, percentile(round_trips, 0.999) / 1e3,
           (double)lat_max_ns / 1e3, (unsigned long long)errors,
           secs > 0 ? (self_cpu1 - self_cpu0) / secs : 0.0);
    if (srv_cpu >= 0)
        printf(", \"server_cpu_s\": %.3f, \"server_cpu_us_per_rt\": %.3f",
               srv_cpu, round_trips ? srv_cpu * 1e6 / (double)round_trips : 0.0);
    printf("}\n");
    return round_trips > 0 ? 0 : 2;
}
