from fashionlab._entry import main

main()
