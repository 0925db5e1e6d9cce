use std::io::{self, BufRead, Read, Write};

fn depth(n: u32) -> u32 {
    if n == 0 { 0 } else { 1 + depth(n - 1) }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        "sort" => {
            let mut s = String::new();
            io::stdin().read_to_string(&mut s).unwrap();
            let mut it = s.split_ascii_whitespace();
            let n: usize = it.next().unwrap().parse().unwrap();
            let mut a: Vec<i64> = (0..n).map(|_| it.next().unwrap().parse().unwrap()).collect();
            a.sort_unstable();
            let out = io::stdout();
            let mut out = io::BufWriter::new(out.lock());
            for (i, x) in a.iter().enumerate() {
                write!(out, "{}{}", x, if i + 1 < n { ' ' } else { '\n' }).unwrap();
            }
        }
        "deep" => {
            let t = std::thread::Builder::new()
                .stack_size(512 << 20)
                .spawn(|| depth("100000".parse().unwrap()))
                .unwrap();
            println!("depth {}", t.join().unwrap());
        }
        "stdin" => {
            let f = std::fs::File::open("/dev/stdin").unwrap();
            let mut sum: i64 = 0;
            for line in io::BufReader::new(f).lines() {
                for w in line.unwrap().split_ascii_whitespace() {
                    sum += w.parse::<i64>().unwrap();
                }
            }
            println!("sum {}", sum);
        }
        "file" => {
            let f = std::fs::File::open(&args[2]).unwrap();
            let mut line = String::new();
            io::BufReader::new(f).read_line(&mut line).unwrap();
            print!("read {}", line);
        }
        "socket" => match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => println!("socket ok"),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => println!("socket ok"),
            Err(e) => println!("refused {}", e),
        },
        _ => {}
    }
}
