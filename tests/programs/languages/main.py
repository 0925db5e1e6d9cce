import sys


def deep():
    import threading
    sys.setrecursionlimit(1 << 20)
    threading.stack_size(512 << 20)

    def f(n):
        return 0 if n == 0 else 1 + f(n - 1)

    out = []
    t = threading.Thread(target=lambda: out.append(f(100000)))
    t.start()
    t.join()
    print("depth", out[0])


mode = sys.argv[1]
if mode == "sort":
    data = sys.stdin.buffer.read().split()
    n = int(data[0])
    a = sorted(map(int, data[1:n + 1]))
    sys.stdout.write(" ".join(map(str, a)) + "\n")
elif mode == "deep":
    deep()
elif mode == "stdin":
    with open("/dev/stdin") as f:
        print("sum", sum(int(x) for x in f.read().split()))
elif mode == "file":
    with open(sys.argv[2]) as f:
        print("read", f.readline().strip())
elif mode == "socket":
    import socket
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        print("refused", e.errno)
        sys.exit(0)
    print("socket ok")
    s.connect(("127.0.0.1", 9))
