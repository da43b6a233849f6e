from mnist_rnn.cli import main

main()
