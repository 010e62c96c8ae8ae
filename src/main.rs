fn main() {
    println!("shipctl");
}
