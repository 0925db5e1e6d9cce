// runprog's result line and the program's output on one stream (no -out, the result on stdout,
// as go-sandbox's runprog is mostly used): the program must not be able to forge the verdict.
#pragma once

#include <thread>
#include <vector>

#include "tracebox/util/unique_fd.h"

namespace tracebox::cmd {

// When the program's stdout or stderr is the stream the result goes to, the program writes into a
// pipe instead and a thread of runprog copies it to the stream, noting its last byte; finish()
// then ends an unfinished last line, so that runprog's result is a line of its own and the last.
// (A partial line followed by the result would make a forged line of the program's the last one
// a reader can parse, as it did with go-sandbox's runprog.)
class SharedStream {
 public:
  SharedStream() = default;
  SharedStream(const SharedStream&) = delete;
  SharedStream& operator=(const SharedStream&) = delete;
  ~SharedStream();

  // Replaces files[1] and files[2] by the pipe when they are `result_fd`'s stream (unless that
  // is /dev/null).
  void interpose(std::vector<int>& files, int result_fd);
  // After the run (every process of it gone): drains the pipe, waits for the copy, and writes a
  // newline to the stream if the program left its last line unfinished.
  void finish();

 private:
  UniqueFd read_end_, write_end_;
  int target_ = -1;
  std::thread copier_;
  bool ends_line_ = true;
};

}  // namespace tracebox::cmd
