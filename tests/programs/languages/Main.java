import java.io.*;
import java.net.InetSocketAddress;
import java.util.*;

public class Main {
  static int depth(int n) { return n == 0 ? 0 : 1 + depth(n - 1); }

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "sort": {
        StreamTokenizer st = new StreamTokenizer(new BufferedReader(new InputStreamReader(System.in)));
        st.nextToken();
        int n = (int) st.nval;
        long[] a = new long[n];
        for (int i = 0; i < n; i++) { st.nextToken(); a[i] = (long) st.nval; }
        Arrays.sort(a);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append(a[i]).append(i + 1 < n ? ' ' : '\n');
        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out)));
        out.print(sb);
        out.flush();
        break;
      }
      case "deep": {
        int[] d = new int[1];
        Thread t = new Thread(null, () -> d[0] = depth(100000), "deep", 512L << 20);
        t.start();
        t.join();
        System.out.println("depth " + d[0]);
        break;
      }
      case "stdin": {
        Scanner in = new Scanner(new File("/dev/stdin"));
        long sum = 0;
        while (in.hasNextLong()) sum += in.nextLong();
        System.out.println("sum " + sum);
        break;
      }
      case "file": {
        BufferedReader in = new BufferedReader(new FileReader(args[1]));
        System.out.println("read " + in.readLine());
        break;
      }
      case "socket": {
        java.nio.channels.SocketChannel s;
        try {
          s = java.nio.channels.SocketChannel.open();  // the socket is made here
        } catch (IOException e) {
          System.out.println("refused " + e);
          return;
        }
        System.out.println("socket ok");
        s.connect(new InetSocketAddress("127.0.0.1", 9));
        break;
      }
    }
  }
}
