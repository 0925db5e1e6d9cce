import qualified Data.ByteString.Char8 as B
import Data.List (sort)
import Data.Maybe (mapMaybe)
import System.Environment (getArgs)
import System.IO
import Foreign.C.Types (CInt (..))

-- base has no sockets: socket(2) itself, through the FFI.
foreign import ccall unsafe "socket" c_socket :: CInt -> CInt -> CInt -> IO CInt

depth :: Int -> Int
depth 0 = 0
depth n = 1 + depth (n - 1)

readInts :: B.ByteString -> [Int]
readInts = map fst . mapMaybe B.readInt . B.words

main :: IO ()
main = do
  args <- getArgs
  case args of
    ["sort"] -> do
      (n : xs) <- readInts <$> B.getContents
      B.putStrLn . B.unwords . map (B.pack . show) . sort $ take n xs
    ["deep"] -> putStrLn ("depth " ++ show (depth 100000))
    ["stdin"] -> do
      s <- B.readFile "/dev/stdin"
      putStrLn ("sum " ++ show (sum (readInts s)))
    ["file", path] -> do
      h <- openFile path ReadMode
      l <- hGetLine h
      putStrLn ("read " ++ l)
    ["socket"] -> do
      fd <- c_socket 2 1 0 -- AF_INET, SOCK_STREAM
      putStrLn (if fd >= 0 then "socket ok" else "refused")
    _ -> return ()
