# disable-screensaver: one step of the Windows base box
Write-Output "disable-screensaver"
