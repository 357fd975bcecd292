pub use bundler::format;
