program main;
{$mode objfpc}
uses sysutils, sockets;

type TArr = array of int64;

function depth(n: longint): longint;
begin
  if n = 0 then depth := 0 else depth := 1 + depth(n - 1);
end;

procedure qsort(var a: TArr; l, r: longint);
var i, j: longint; p, t: int64;
begin
  i := l; j := r; p := a[(l + r) div 2];
  repeat
    while a[i] < p do inc(i);
    while a[j] > p do dec(j);
    if i <= j then begin t := a[i]; a[i] := a[j]; a[j] := t; inc(i); dec(j); end;
  until i > j;
  if l < j then qsort(a, l, j);
  if i < r then qsort(a, i, r);
end;

var
  n, i: longint;
  a: TArr;
  x, sum: int64;
  f: text;
  line: string;
  s: longint;
begin
  if paramstr(1) = 'sort' then begin
    read(n);
    setlength(a, n);
    for i := 0 to n - 1 do read(a[i]);
    qsort(a, 0, n - 1);
    for i := 0 to n - 1 do
      if i + 1 < n then write(a[i], ' ') else writeln(a[i]);
  end else if paramstr(1) = 'deep' then
    writeln('depth ', depth(100000))
  else if paramstr(1) = 'stdin' then begin
    assign(f, '/dev/stdin'); reset(f);
    sum := 0;
    while not seekeof(f) do begin read(f, x); sum := sum + x; end;
    writeln('sum ', sum);
  end else if paramstr(1) = 'file' then begin
    assign(f, paramstr(2));
    {$I-} reset(f); {$I+}
    if ioresult <> 0 then begin writeln('refused'); halt(1); end;
    readln(f, line);
    writeln('read ', line);
  end else if paramstr(1) = 'socket' then begin
    s := fpsocket(AF_INET, SOCK_STREAM, 0);
    if s < 0 then writeln('refused ', socketerror) else writeln('socket ok');
  end;
end.
