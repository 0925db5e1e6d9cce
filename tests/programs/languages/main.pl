use strict;
use warnings;
no warnings 'recursion';

sub depth { my $n = shift; return $n == 0 ? 0 : 1 + depth($n - 1); }

my $mode = $ARGV[0];
if ($mode eq "sort") {
  local $/;
  my @data = split ' ', <STDIN>;
  my $n = shift @data;
  my @a = sort { $a <=> $b } @data[0 .. $n - 1];
  print join(" ", @a), "\n";
} elsif ($mode eq "deep") {
  print "depth ", depth(100000), "\n";
} elsif ($mode eq "stdin") {
  open(my $f, "<", "/dev/stdin") or die "refused $!";
  my $sum = 0;
  while (<$f>) { $sum += $_ for split ' '; }
  print "sum $sum\n";
} elsif ($mode eq "file") {
  open(my $f, "<", $ARGV[1]) or do { print "refused $!\n"; exit 1 };
  my $line = <$f>;
  print "read $line";
} elsif ($mode eq "socket") {
  use Socket;
  if (socket(my $s, PF_INET, SOCK_STREAM, 0)) { print "socket ok\n"; }
  else { print "refused $!\n"; }
}
