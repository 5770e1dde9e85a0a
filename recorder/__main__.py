from recorder.recorder import main

main()
