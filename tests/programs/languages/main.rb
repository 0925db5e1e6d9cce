def depth(n)
  n.zero? ? 0 : 1 + depth(n - 1)
end

case ARGV[0]
when "sort"
  data = $stdin.read.split.map(&:to_i)
  n = data[0]
  puts data[1, n].sort.join(" ")
when "deep"
  t = Thread.new { depth(100000) }
  puts "depth #{t.value}"
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
