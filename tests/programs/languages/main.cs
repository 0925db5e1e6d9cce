using System;
using System.IO;
using System.Linq;
using System.Threading;

public class MainClass {
  static int Depth(int n) { return n == 0 ? 0 : 1 + Depth(n - 1); }

  public static void Main(string[] args) {
    switch (args[0]) {
      case "sort": {
        var data = Console.In.ReadToEnd().Split((char[])null, StringSplitOptions.RemoveEmptyEntries);
        int n = int.Parse(data[0]);
        var a = data.Skip(1).Take(n).Select(long.Parse).ToArray();
        Array.Sort(a);
        Console.Out.Write(string.Join(" ", a) + "\n");
        break;
      }
      case "deep": {
        int d = 0;
        var t = new Thread(() => d = Depth(100000), 512 << 20);
        t.Start();
        t.Join();
        Console.WriteLine("depth " + d);
        break;
      }
      case "stdin": {
        var data = File.ReadAllText("/dev/stdin").Split((char[])null, StringSplitOptions.RemoveEmptyEntries);
        Console.WriteLine("sum " + data.Select(long.Parse).Sum());
        break;
      }
      case "file":
        Console.WriteLine("read " + File.ReadLines(args[1]).First());
        break;
      case "socket":
        try {
          var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
              System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
          Console.WriteLine("socket ok");
        } catch (Exception e) {
          Console.WriteLine("refused " + e.GetType().Name);
        }
        break;
    }
  }
}
