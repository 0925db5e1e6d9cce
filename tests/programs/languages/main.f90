module m
contains
  recursive function depth(n) result(r)
    integer, intent(in) :: n
    integer :: r
    if (n == 0) then
      r = 0
    else
      r = 1 + depth(n - 1)
    end if
  end function depth
end module m

program main
  use m
  use iso_c_binding
  implicit none
  interface
    function c_socket(d, t, p) bind(c, name='socket')
      import :: c_int
      integer(c_int), value :: d, t, p
      integer(c_int) :: c_socket
    end function c_socket
  end interface
  character(len=256) :: mode, path, line
  integer :: n, u, ios, p, q
  integer(8), allocatable :: a(:)
  integer(8) :: x, s
  call get_command_argument(1, mode)
  select case (trim(mode))
  case ('sort')
    read (*, *) n
    allocate (a(n))
    read (*, *) a
    call sort(a)
    write (*, '(*(i0,:," "))') a
  case ('deep')
    write (*, '(a,i0)') 'depth ', depth(100000)
  case ('stdin')
    open (newunit=u, file='/dev/stdin', action='read')
    s = 0
    do
      read (u, '(a)', iostat=ios) line
      if (ios /= 0) exit
      p = 1
      do
        do while (p <= len_trim(line))
          if (line(p:p) /= ' ') exit
          p = p + 1
        end do
        if (p > len_trim(line)) exit
        q = index(line(p:), ' ')
        read (line(p:p + q - 2), *) x
        s = s + x
        p = p + q
      end do
    end do
    write (*, '(a,i0)') 'sum ', s
  case ('file')
    call get_command_argument(2, path)
    open (newunit=u, file=trim(path), action='read', iostat=ios)
    if (ios /= 0) then
      print '(a)', 'refused'
      stop 1
    end if
    read (u, '(a)') line
    write (*, '(a,a)') 'read ', trim(line)
  case ('socket')
    if (c_socket(2_c_int, 1_c_int, 0_c_int) >= 0) then
      print '(a)', 'socket ok'
    else
      print '(a)', 'refused'
    end if
  end select
contains
  recursive subroutine sort(v)
    integer(8), intent(inout) :: v(:)
    integer(8) :: p, t
    integer :: i, j
    if (size(v) < 2) return
    p = v((size(v) + 1) / 2)
    i = 1
    j = size(v)
    do
      do while (v(i) < p)
        i = i + 1
      end do
      do while (v(j) > p)
        j = j - 1
      end do
      if (i >= j) exit
      t = v(i); v(i) = v(j); v(j) = t
      i = i + 1
      j = j - 1
    end do
    call sort(v(:j))
    call sort(v(j + 1:))
  end subroutine sort
end program main
