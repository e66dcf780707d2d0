# Paired A|B images (pix2pix layout: data_root/{train,val,test}/*.jpg, A left, B right),
# pix2pix's jitter: resize to 286x286, random 256x256 crop, random flip; batch size 1.
# Experiment configs set data_root (and direction): the download command is
# python tools/download_dataset.py <folder name of data_root>.
_base_ = ['./image_folder_loader.py']
train_dataloader = dict(
    dataset=dict(type='PairedImageDataset', data_root='data/facades', split='train',
                 direction='AtoB', load_size=286, crop_size=256,
                 preprocess='resize_and_crop', flip=True),
)
