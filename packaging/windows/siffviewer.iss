; Inno Setup 6 script: the Windows installer of the one-folder bundle.
;   pyinstaller --noconfirm --clean packaging\siffviewer.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\siffviewer.iss
; -> dist\siffviewer-<version>-setup.exe
; Installs per machine (admin) or per user (the dialog offers both; /CURRENTUSER on the
; command line), adds a Start-menu entry, registers .siff files to open in the app, and
; the uninstaller removes all of it (the registry keys carry uninsdelete flags).

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z packaging\windows\siffviewer.iss
#endif
#define AppName "siffviewer"
#define AppExe "siffviewer.exe"
#define ProgId "siffviewer.siff"
#define Bundle "..\..\dist\siffviewer"

[Setup]
AppId={{5C0B9E1A-7F55-4B8C-9D0E-51FF1A7E6C42}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=siffviewer developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UninstallDisplayIcon={app}\{#AppExe}
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog commandline
ChangesAssociations=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; .siff -> siffviewer (HKA: HKLM for a machine install, HKCU for a per-user one). Only
; OpenWithProgids, as Windows wants: the default stays the user's choice (Windows asks
; once when several apps can open .siff; with ours alone a double-click opens it).
Root: HKA; Subkey: "Software\Classes\.siff\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "ScanImage-FLIM recording"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".siff"; ValueData: ""; Flags: uninsdeletekey

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
