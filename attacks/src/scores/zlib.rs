//! zlib-compressed length of a text, the denominator of the zlib ratio of Carlini et al. 2021
//! ("Extracting Training Data from Large Language Models"), which used Python's
//! `len(zlib.compress(text.encode()))` (zlib format, level 6). flate2 at its default level 6
//! gives the same lengths on our tests' inputs (header 2 bytes + deflate + Adler-32 4 bytes).

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress, Status};

thread_local! {
    // One compressor per thread, reset between texts: a fresh one allocates ~300 KB each time.
    static COMPRESSOR: RefCell<Compress> = RefCell::new(Compress::new(Compression::default(), true));
}

/// Byte length of the zlib stream (with header and checksum) of the UTF-8 text at level 6.
pub fn zlib_len(text: &str) -> usize {
    COMPRESSOR.with(|cell| {
        let mut compressor = cell.borrow_mut();
        compressor.reset();
        let input = text.as_bytes();
        let mut out = Vec::with_capacity(input.len() + input.len() / 8 + 64);
        loop {
            let consumed = compressor.total_in() as usize;
            let status = compressor
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Finish)
                .expect("deflate of an in-memory buffer cannot fail");
            if status == Status::StreamEnd {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        let len = compressor.total_out() as usize;
        compressor.reset();
        len
    })
}
