<?php
function depth($n) { return $n == 0 ? 0 : 1 + depth($n - 1); }

switch ($argv[1]) {
  case "sort":
    $data = preg_split('/\s+/', trim(stream_get_contents(STDIN)));
    $n = (int)$data[0];
    $a = array_map('intval', array_slice($data, 1, $n));
    sort($a);
    echo implode(" ", $a), "\n";
    break;
  case "deep":
    echo "depth ", depth(100000), "\n";
    break;
  case "stdin":
    $data = preg_split('/\s+/', trim(file_get_contents("/dev/stdin")));
    echo "sum ", array_sum(array_map('intval', $data)), "\n";
    break;
  case "file":
    $f = fopen($argv[2], "r");
    if ($f === false) { echo "refused\n"; exit(1); }
    echo "read ", fgets($f);
    break;
  case "socket":
    $s = @fsockopen("127.0.0.1", 9, $errno, $errstr, 1);
    if ($s === false && $errno != 111) { echo "refused $errno $errstr\n"; break; }
    echo "socket ok\n";
    break;
}
