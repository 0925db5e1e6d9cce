def depth(n)
  n.zero? ? 0 : 1 + depth(n - 1)
end

case ARGV[0]
when "sort"
  data = $stdin.read.split.map(&:to_i)
  n = data[0]
  puts data[1, n].sort.join(" ")
when "deep"
  # Ruby's VM stack is RUBY_THREAD_VM_STACK_SIZE (the profile sets it), not the C stack.
  puts "depth #{depth(100000)}"
when "stdin"
  puts "sum #{File.read("/dev/stdin").split.map(&:to_i).sum}"
when "file"
  puts "read #{File.open(ARGV[1], &:readline)}"
when "socket"
  require "socket"
  begin
    s = Socket.new(:INET, :STREAM)
  rescue SystemCallError => e
    puts "refused #{e.class}"
    exit 0
  end
  puts "socket ok"
end
