// Verification-only runtime of the threaded, bounded-FIFO C simulation (pipeline/hls/threaded_csim.py).
//
// Every dataflow process of the hls4ml top function runs in its own std::thread; every hls::stream (our stand-in,
// hls_stream.h next to this file) is a FIFO of bounded depth whose read blocks while it is empty and whose write
// blocks while it is full -- the semantics of an HLS dataflow FIFO. The processes are deterministic and only use
// blocking reads / writes, so whether the network completes does not depend on the thread schedule.
//
// Deadlock detection is exact: `running` counts the processes that are neither finished nor blocked. A process that
// blocks decrements it; the process that unblocks it (by writing the token it waits for / reading from the FIFO it
// waits to write) increments it on the waiter's behalf, under the FIFO's lock, *before* it can block itself. So
// running == 0 while some process is unfinished means that every unfinished process waits for another one: a
// deadlock, which the watchdog reports (full / empty FIFOs, blocked processes) before exiting with status 3. As a
// backstop, no token moving anywhere for `watchdog_s` seconds is reported too (status 4).
#ifndef FSIC_DATAFLOW_H_
#define FSIC_DATAFLOW_H_

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fsic_df {

enum State { RUNNING = 0, BLOCKED_READ = 1, BLOCKED_WRITE = 2, DONE = 3 };

class StreamBase;

struct Proc {
    std::string name;
    std::atomic<int> state{RUNNING};
    std::atomic<StreamBase *> on{nullptr};  // the stream it is blocked on
    std::atomic<int> frame{0};
};

class StreamBase {
  public:
    virtual ~StreamBase() {}
    virtual std::string stream_name() const = 0;
    virtual size_t stream_depth() const = 0;
    // occupancy, max occupancy, tokens written, reader / writer process names (empty if none yet)
    virtual void snapshot(size_t &occ, size_t &max_occ, unsigned long long &written, std::string &reader,
                          std::string &writer) = 0;
};

struct Runtime {
    std::mutex reg_mu;
    std::vector<StreamBase *> streams;
    std::map<std::string, size_t> depth_override;  // stream name -> depth (command line --depth NAME=N)
    std::vector<std::unique_ptr<Proc>> procs;
    std::atomic<long> running{0};
    std::atomic<int> done{0};
    std::atomic<unsigned long long> progress{0};
    std::string tap_name;  // the stream whose tokens are recorded (e.g. the logits)
    std::vector<double> tap;
    std::string report_path;

    void add_stream(StreamBase *s) {
        std::lock_guard<std::mutex> g(reg_mu);
        streams.push_back(s);
    }
    void remove_stream(StreamBase *s) {
        std::lock_guard<std::mutex> g(reg_mu);
        for (size_t i = 0; i < streams.size(); i++)
            if (streams[i] == s) {
                streams.erase(streams.begin() + i);
                break;
            }
    }
};

inline Runtime &rt() {
    static Runtime r;
    return r;
}

inline thread_local Proc *current = nullptr;

// the calling process blocks on `s` (called with s's lock held)
inline void block(Proc *me, int how, StreamBase *s) {
    if (!me)
        return;
    me->on.store(s);
    me->state.store(how);
    rt().running.fetch_sub(1);
}

// `p`, blocked on a stream whose lock the caller holds, may go on: counted running again on its behalf
inline void release(Proc *p) {
    if (!p)
        return;
    rt().running.fetch_add(1);
    p->state.store(RUNNING);
    p->on.store(nullptr);
}

inline std::string json_str(const std::string &s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            o += '\\';
        o += c;
    }
    return o + "\"";
}

// What everyone is doing: to stderr (readable) and to the report file (JSON), then exit.
inline void report_and_exit(const char *why, int status) {
    Runtime &r = rt();
    std::string js = "{\"status\": " + json_str(why) + ", \"tokens_moved\": " + std::to_string(r.progress.load()) +
                     ", \"processes\": [";
    std::fprintf(stderr, "bounded csim: %s (%llu tokens moved)\n", why, (unsigned long long)r.progress.load());
    const char *names[] = {"running", "blocked reading", "blocked writing", "done"};
    bool first = true;
    for (auto &p : r.procs) {
        int st = p->state.load();
        StreamBase *s = p->on.load();
        std::string on = s ? s->stream_name() : "";
        if (st == BLOCKED_READ || st == BLOCKED_WRITE)
            std::fprintf(stderr, "  process %-28s frame %d: %s %s\n", p->name.c_str(), p->frame.load(), names[st],
                         on.c_str());
        js += std::string(first ? "" : ", ") + "{\"name\": " + json_str(p->name) + ", \"state\": " +
              json_str(names[st]) + ", \"stream\": " + json_str(on) + ", \"frame\": " + std::to_string(p->frame.load()) +
              "}";
        first = false;
    }
    js += "], \"streams\": [";
    first = true;
    std::lock_guard<std::mutex> g(r.reg_mu);
    for (StreamBase *s : r.streams) {
        size_t occ, mx;
        unsigned long long wr;
        std::string rd, wt;
        s->snapshot(occ, mx, wr, rd, wt);
        size_t d = s->stream_depth();
        bool full = occ >= d;
        if (full || occ == 0)
            std::fprintf(stderr, "  FIFO %-16s %s %zu/%zu  writer %s, reader %s\n", s->stream_name().c_str(),
                         full ? "FULL " : "empty", occ, d, wt.c_str(), rd.c_str());
        js += std::string(first ? "" : ", ") + "{\"name\": " + json_str(s->stream_name()) +
              ", \"depth\": " + (d == SIZE_MAX ? std::string("null") : std::to_string(d)) +
              ", \"occupancy\": " + std::to_string(occ) + ", \"max_occupancy\": " + std::to_string(mx) +
              ", \"written\": " + std::to_string(wr) + ", \"full\": " + (full ? "true" : "false") +
              ", \"writer\": " + json_str(wt) + ", \"reader\": " + json_str(rd) + "}";
        first = false;
    }
    js += "]}\n";
    if (!r.report_path.empty()) {
        FILE *f = std::fopen(r.report_path.c_str(), "w");
        if (f) {
            std::fputs(js.c_str(), f);
            std::fclose(f);
        }
    }
    std::fflush(stderr);
    _exit(status);
}

// The processes of one dataflow region, each in its own thread, watched by a watchdog.
class Dataflow {
  public:
    void add(const std::string &name, std::function<void()> fn) {
        names_.push_back(name);
        fns_.push_back(std::move(fn));
    }

    // runs every process to completion; on a deadlock (or no progress for watchdog_s) reports and exits
    void run(double watchdog_s) {
        Runtime &r = rt();
        size_t n = fns_.size();
        for (size_t i = 0; i < n; i++) {
            r.procs.emplace_back(new Proc());
            r.procs.back()->name = names_[i];
        }
        r.running.store((long)n);
        std::atomic<bool> finished{false};
        std::thread dog([&] { watch(watchdog_s, n, finished); });
        std::vector<std::thread> ts;
        for (size_t i = 0; i < n; i++) {
            Proc *p = r.procs[i].get();
            std::function<void()> *fn = &fns_[i];
            ts.emplace_back([p, fn] {
                current = p;
                (*fn)();
                p->state.store(DONE);
                rt().done.fetch_add(1);
                rt().running.fetch_sub(1);
            });
        }
        for (auto &t : ts)
            t.join();
        finished.store(true);
        dog.join();
    }

  private:
    std::vector<std::string> names_;
    std::vector<std::function<void()>> fns_;

    static void watch(double watchdog_s, size_t n, std::atomic<bool> &finished) {
        Runtime &r = rt();
        unsigned long long last = r.progress.load();
        auto since = std::chrono::steady_clock::now();
        while (!finished.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if ((size_t)r.done.load() == n)
                continue;
            if (r.running.load() == 0 && (size_t)r.done.load() < n)
                report_and_exit("deadlock: every unfinished process is blocked on a FIFO", 3);
            unsigned long long now = r.progress.load();
            auto t = std::chrono::steady_clock::now();
            if (now != last) {
                last = now;
                since = t;
            } else if (std::chrono::duration<double>(t - since).count() > watchdog_s) {
                report_and_exit("watchdog: no token moved in any FIFO", 4);
            }
        }
    }
};

// record the elements of a token of the tapped stream (nnet::array-like types; others are ignored)
template <typename T> auto tap_token(const T &v, int) -> decltype(T::size, void()) {
    for (unsigned i = 0; i < T::size; i++)
        rt().tap.push_back(v[i].to_double());
}
template <typename T> void tap_token(const T &, long) {}

}  // namespace fsic_df

#endif
