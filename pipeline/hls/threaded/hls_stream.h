// Stand-in for hls_stream.h in the threaded, bounded-FIFO C simulation (pipeline/hls/threaded_csim.py): an
// hls::stream is a FIFO of `depth` elements (unbounded until set_depth) shared by one writer and one reader thread;
// read() blocks while it is empty, write() blocks while it is full, as an HLS dataflow FIFO does. The threaded
// runtime (fsic_dataflow.h) sees every blocked process, for exact deadlock detection and the watchdog's report.
// Found before hls4ml's ap_types/hls_stream.h by include order; never used for synthesis or the normal C model.
#ifndef X_HLS_STREAM_SIM_H
#define X_HLS_STREAM_SIM_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "fsic_dataflow.h"

namespace hls {

template <typename T> class stream : public fsic_df::StreamBase {
  public:
    stream() : name_("hls_stream") { fsic_df::rt().add_stream(this); }
    stream(const std::string &name) : name_(name) { init(); }
    stream(const char *name) : name_(name) { init(); }
    virtual ~stream() { fsic_df::rt().remove_stream(this); }

    // the FIFO depth (the top function's STREAM pragma), unless the command line overrides it for this name
    void set_depth(size_t depth) {
        std::lock_guard<std::mutex> g(mu_);
        auto &ov = fsic_df::rt().depth_override;
        auto it = ov.find(name_);
        depth_ = it != ov.end() ? it->second : depth;
        if (depth_ < 1)
            depth_ = 1;
    }

    void operator>>(T &v) { read(v); }
    void operator<<(const T &v) { write(v); }

    void read(T &v) { v = read(); }

    T read() {
        std::unique_lock<std::mutex> l(mu_);
        fsic_df::Proc *me = fsic_df::current;
        if (me)
            reader_ = me;
        if (q_.empty()) {
            fsic_df::block(me, fsic_df::BLOCKED_READ, this);
            rwait_ = me;
            do
                cv_r_.wait(l);
            while (q_.empty());
        }
        T v = q_.front();
        q_.pop_front();
        if (wwait_) {
            fsic_df::release(wwait_);
            wwait_ = nullptr;
            cv_w_.notify_one();
        }
        fsic_df::rt().progress.fetch_add(1);
        return v;
    }

    void write(const T &v) {
        std::unique_lock<std::mutex> l(mu_);
        fsic_df::Proc *me = fsic_df::current;
        if (me)
            writer_ = me;
        if (q_.size() >= depth_) {
            fsic_df::block(me, fsic_df::BLOCKED_WRITE, this);
            wwait_ = me;
            do
                cv_w_.wait(l);
            while (q_.size() >= depth_);
        }
        q_.push_back(v);
        written_++;
        if (q_.size() > max_occ_)
            max_occ_ = q_.size();
        if (tap_)
            fsic_df::tap_token(v, 0);
        if (rwait_) {
            fsic_df::release(rwait_);
            rwait_ = nullptr;
            cv_r_.notify_one();
        }
        fsic_df::rt().progress.fetch_add(1);
    }

    bool empty() {
        std::lock_guard<std::mutex> g(mu_);
        return q_.empty();
    }
    bool full() {
        std::lock_guard<std::mutex> g(mu_);
        return q_.size() >= depth_;
    }
    size_t size() {
        std::lock_guard<std::mutex> g(mu_);
        return q_.size();
    }
    bool read_nb(T &v) {
        {
            std::lock_guard<std::mutex> g(mu_);
            if (q_.empty())
                return false;
        }
        v = read();
        return true;
    }
    bool write_nb(const T &v) {
        {
            std::lock_guard<std::mutex> g(mu_);
            if (q_.size() >= depth_)
                return false;
        }
        write(v);
        return true;
    }

    std::string stream_name() const override { return name_; }
    size_t stream_depth() const override { return depth_; }
    void snapshot(size_t &occ, size_t &max_occ, unsigned long long &written, std::string &reader,
                  std::string &writer) override {
        std::lock_guard<std::mutex> g(mu_);
        occ = q_.size();
        max_occ = max_occ_;
        written = written_;
        reader = reader_ ? reader_->name : "";
        writer = writer_ ? writer_->name : "";
    }

  private:
    void init() {
        tap_ = !fsic_df::rt().tap_name.empty() && name_ == fsic_df::rt().tap_name;
        fsic_df::rt().add_stream(this);
    }
    stream(const stream &);
    stream &operator=(const stream &);

    std::string name_;
    std::deque<T> q_;
    size_t depth_ = SIZE_MAX;
    size_t max_occ_ = 0;
    unsigned long long written_ = 0;
    bool tap_ = false;
    std::mutex mu_;
    std::condition_variable cv_r_, cv_w_;
    fsic_df::Proc *rwait_ = nullptr, *wwait_ = nullptr;
    fsic_df::Proc *reader_ = nullptr, *writer_ = nullptr;
};

}  // namespace hls

#endif
