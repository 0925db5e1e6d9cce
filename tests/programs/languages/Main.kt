import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.io.StreamTokenizer

fun depth(n: Int): Int = if (n == 0) 0 else 1 + depth(n - 1)

fun main(args: Array<String>) {
    when (args[0]) {
        "sort" -> {
            val st = StreamTokenizer(BufferedReader(InputStreamReader(System.`in`)))
            st.nextToken()
            val n = st.nval.toInt()
            val a = LongArray(n) { st.nextToken(); st.nval.toLong() }
            a.sort()
            val sb = StringBuilder()
            for (i in 0 until n) sb.append(a[i]).append(if (i + 1 < n) ' ' else '\n')
            print(sb)
            System.out.flush()
        }
        "deep" -> {
            var d = 0
            val t = Thread(null, { d = depth(100000) }, "deep", 512L shl 20)
            t.start()
            t.join()
            println("depth $d")
        }
        // File.readText() would size the file with stat first, and stat of /dev/stdin is refused
        // (only opening may go through /proc/self/fd): read the opened file to its end instead.
        "stdin" -> println("sum " + File("/dev/stdin").bufferedReader().readText().split(Regex("\\s+")).filter { it.isNotEmpty() }.map { it.toLong() }.sum())
        "file" -> println("read " + File(args[1]).bufferedReader().readLine())
        "socket" -> {
            try {
                java.nio.channels.SocketChannel.open()
                println("socket ok")
            } catch (e: java.io.IOException) {
                println("refused $e")
            }
        }
    }
}
