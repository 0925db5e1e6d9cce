const fs = require("fs");

function depth(n) {
  return n === 0 ? 0 : 1 + depth(n - 1);
}

const mode = process.argv[2];
if (mode === "sort") {
  const data = fs.readFileSync(0, "utf8").split(/\s+/).filter((s) => s.length);
  const n = Number(data[0]);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Number(data[i + 1]);
  a.sort();
  process.stdout.write(Array.from(a).join(" ") + "\n");
} else if (mode === "deep") {
  console.log("depth " + depth(100000));
} else if (mode === "stdin") {
  const data = fs.readFileSync("/dev/stdin", "utf8").split(/\s+/).filter((s) => s.length);
  console.log("sum " + data.reduce((s, x) => s + Number(x), 0));
} else if (mode === "file") {
  console.log("read " + fs.readFileSync(process.argv[3], "utf8").split("\n")[0]);
} else if (mode === "socket") {
  const net = require("net");
  try {
    const s = net.connect(9, "127.0.0.1");
    s.on("error", (e) => console.log(e.code === "ECONNREFUSED" ? "socket ok" : "refused " + e.code));
    s.on("connect", () => { console.log("socket ok"); s.destroy(); });
  } catch (e) {
    console.log("refused " + e);
  }
}
