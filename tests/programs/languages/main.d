import core.sys.posix.sys.socket : socket, AF_INET, SOCK_STREAM;
import std.algorithm, std.array, std.conv, std.stdio, std.string;

int depth(int n) { return n == 0 ? 0 : 1 + depth(n - 1); }

void main(string[] args) {
    switch (args[1]) {
    case "sort":
        auto data = stdin.byChunk(1 << 16).joiner.map!(c => cast(char) c).array.split;
        auto n = data[0].to!size_t;
        auto a = data[1 .. n + 1].map!(to!long).array;
        a.sort();
        writeln(a.map!(to!string).join(" "));
        break;
    case "deep":
        writeln("depth ", depth(100_000));
        break;
    case "stdin":
        auto f = File("/dev/stdin");
        long sum = 0;
        foreach (line; f.byLine)
            foreach (w; line.split)
                sum += w.to!long;
        writeln("sum ", sum);
        break;
    case "file":
        writeln("read ", File(args[2]).readln.strip);
        break;
    case "socket":
        writeln(socket(AF_INET, SOCK_STREAM, 0) >= 0 ? "socket ok" : "refused");
        break;
    default:
        break;
    }
}
