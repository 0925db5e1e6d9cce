let rec depth n = if n = 0 then 0 else 1 + depth (n - 1)

let () =
  match Sys.argv.(1) with
  | "sort" ->
      let n = Scanf.scanf " %d" (fun x -> x) in
      let a = Array.init n (fun _ -> Scanf.scanf " %d" (fun x -> x)) in
      Array.sort compare a;
      let b = Buffer.create (n * 12) in
      Array.iteri (fun i x ->
          Buffer.add_string b (string_of_int x);
          Buffer.add_char b (if i + 1 < n then ' ' else '\n')) a;
      print_string (Buffer.contents b)
  | "deep" -> Printf.printf "depth %d\n" (depth 100000)
  | "stdin" ->
      let ib = Scanf.Scanning.from_channel (open_in "/dev/stdin") in
      let sum = ref 0 in
      (try
         while true do
           Scanf.bscanf ib " %d" (fun x -> sum := !sum + x)
         done
       with _ -> ());
      Printf.printf "sum %d\n" !sum
  | "file" ->
      let ic = open_in Sys.argv.(2) in
      Printf.printf "read %s\n" (input_line ic)
  | "socket" -> (
      match Unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 with
      | _ -> print_endline "socket ok"
      | exception Unix.Unix_error (e, _, _) -> print_endline ("refused " ^ Unix.error_message e))
  | _ -> ()
