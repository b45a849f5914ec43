//! Writes one case's files (and its ground truth, TRUTH.txt) into a folder, to listen to or to
//! check by hand: `cargo run -p stemcheck-corpus --example write -- <case> <dir>`. Without
//! arguments, lists the cases.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [case, dir] = args.as_slice() else {
        for c in stemcheck_corpus::full()
            .iter()
            .chain(&stemcheck_corpus::fast())
        {
            println!("{}", c.name);
        }
        eprintln!("usage: write <case> <dir>   (the cases are listed above)");
        std::process::exit(2);
    };
    let Some(case) = stemcheck_corpus::find(case) else {
        eprintln!("no case named {case} (run without arguments for the list)");
        std::process::exit(2);
    };
    let d = stemcheck_corpus::write_case(&case, std::path::Path::new(dir)).unwrap_or_else(|e| {
        eprintln!("{dir}: {e}");
        std::process::exit(2);
    });
    for f in &d.files {
        println!("{}/{}", dir, f.file_name);
    }
    print!(
        "{}",
        std::fs::read_to_string(std::path::Path::new(dir).join("TRUTH.txt")).unwrap_or_default()
    );
}
