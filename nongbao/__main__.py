from nongbao.cli import main

main()
